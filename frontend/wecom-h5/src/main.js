import { createApp } from 'vue'
import {
  Button,
  Cell,
  CellGroup,
  Empty,
  Image as VanImage,
  List,
  Loading,
  Locale,
  NavBar,
  Search,
  Tab,
  Tabbar,
  TabbarItem,
  Tabs,
  Tag,
} from 'vant'
import zhCN from 'vant/es/locale/lang/zh-CN'
import 'vant/lib/index.css'
import './styles.css'

import App from './App.vue'
import router from './router'

Locale.use('zh-CN', zhCN)

const app = createApp(App)
for (const component of [Button, Cell, CellGroup, Empty, VanImage, List, Loading, NavBar, Search, Tab, Tabbar, TabbarItem, Tabs, Tag]) {
  app.use(component)
}
app.use(router)
app.mount('#app')
